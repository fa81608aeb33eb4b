"Pure modelling: preprocessing from column kinds, the model catalogue, metrics and evaluation. No MLflow, no files. Imports `core` and `data`."
