"""The inference endpoint: nginx -> uWSGI -> a WSGI route table, on the hosting contract."""
