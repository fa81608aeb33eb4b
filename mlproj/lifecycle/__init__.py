"Models over time: artifacts with metadata, MLflow tracking and the registry. Imports `core`, `data` and `modeling`."
