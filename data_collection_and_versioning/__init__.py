"""The data collection and versioning job.

Turns raw sales CSVs (BUCKET_1) and unconsumed user corrections (Mongo
COLLECTION_2) into versioned datasets (BUCKET_2), never losing or duplicating a
record. Run it with `python -m data_collection_and_versioning`.
"""
