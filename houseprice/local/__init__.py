"""Run the whole platform on one machine: `python -m houseprice.local up`."""
