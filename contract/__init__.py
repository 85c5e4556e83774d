"""What every part of the stack agrees on: schemas, routes, categories, buckets and metric names.

The service serves it, the load generator sends it, the rule and dashboard generators query it and
the tests check it. It depends on pydantic alone (pydantic-settings, the other core dependency, is for
the settings objects), so any part can import it without the model's libraries; nothing here may
import another package of this project.
"""
