"One module per task: everything that differs between classification, regression and the tasks to come. Task modules never import each other."
