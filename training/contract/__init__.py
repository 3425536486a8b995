"""The job side of SageMaker's container contract, shared by every job in the training image.

Owns the /opt/ml paths and their environment overrides, the failure file, atomic writes, channel
listing and the model archive (model.tar.gz packed and extracted as SageMaker does). Imports only
the standard library: every other package of the image builds on it, and the host's endpoint and
transform code use its archive module, so it may import nothing of the project.
"""
