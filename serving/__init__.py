"""The inference endpoint: nginx -> gunicorn -> Flask on the SageMaker hosting contract."""
