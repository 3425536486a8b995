"""SageMaker Pipeline definitions, run here: the JSON `pipeline.definition()` produces.

Owns definition.py (the definition read and checked, the DAG), expressions.py (Get, Std:Join,
Std:JsonGet, execution variables), conditions.py (every condition type), executor.py (the run:
parallel where the DAG allows, cache, retries), records.py (an execution kept as SageMaker
lists it), steps.py (each step type's runner), lambdas.py (Lambda ARNs mapped to local handlers)
and command.py (`make sdk-pipeline`, `make executions`). It sits on top of the host packages.
"""
