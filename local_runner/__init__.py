"""Run the whole platform on one machine: `python -m local_runner up`."""
