"End-to-end train, evaluate and reproduce: the steps that record runs and save artifacts. Imports the layers below it."
