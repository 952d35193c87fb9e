"""Promotion: every folder's newest registered version against the champion, same rows.

- `promotion` the rule and the alias move, with its decision record.
"""
