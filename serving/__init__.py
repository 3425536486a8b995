"""The inference endpoint: nginx -> gunicorn -> a WSGI route table, on the hosting contract."""
