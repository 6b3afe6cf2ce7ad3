"""Fusion ablations: a sweep file names a base spec, variants and seeds; one command runs and reports them."""
