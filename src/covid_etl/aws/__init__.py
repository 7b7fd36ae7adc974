"""AWS serverless runtime: Lambda handlers, SNS notifications and the post-deploy smoke test.

Nothing here is imported by the CLI; boto3 (part of the Lambda runtime) is imported lazily.
"""
