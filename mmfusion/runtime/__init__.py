"""Where and how fast a model runs: devices, numeric precision and CPU threads."""
