"""AWS Glue 5.0 jobs of the lake: one script per job, runnable with spark-submit locally."""
