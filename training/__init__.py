"""The Penguins jobs: processing, training and evaluation on the SageMaker job contract."""
