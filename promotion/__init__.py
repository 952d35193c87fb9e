"""Promotion, once per pipeline: the champion is replaced only on evidence.

- `rows`       the evaluation rows: recent (out of time) first, cumulative as a guard,
               corrections capped at their share of the training data;
- `evidence`   the paired bootstrap test of per-row errors;
- `promotion`  scoring, the rule, the alias move and the decision record, rollback;
- `lease`      one promoter at a time (a lease object in BUCKET_2);
- `config`     the PROMOTION_* settings and their defaults;
- `cli`        `python -m promotion promote|rollback`.
"""
