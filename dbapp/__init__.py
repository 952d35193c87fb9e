"""dbapp: the persistence service for predictions and corrections (Flask + pymongo)."""
