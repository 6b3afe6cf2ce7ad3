"""``mmfusion new-plugin``: a plugin distribution that starts from a passing state."""
