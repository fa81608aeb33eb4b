"Data in: embedded datasets and CSV/Parquet sources, data contracts and quality checks. Imports only `core`."
