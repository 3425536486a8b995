"""The job entrypoints of the training image: processing, training, evaluation, the data copy.

Each module is what one entrypoint in containers/bin/training runs (`process`, `train`,
`evaluate`) on SageMaker's job contract: read the channels and hyperparameters, call the
workload, write the model or the outputs, or the failure file. The top of the image's import
order: it may import training.workloads, training.model and training.contract; nothing in the
image imports it.
"""
