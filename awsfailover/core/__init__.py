"""Pure: the planner, its data and the deadline. No pydantic, botocore or prometheus."""
