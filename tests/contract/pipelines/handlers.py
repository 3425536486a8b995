"""A Lambda step's local handler for the contract tests: answers with what it was given."""


def notify(event, context):
    return {"package": event["model_package_arn"], "function": context.function_name}
