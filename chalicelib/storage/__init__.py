"""Storage: the stores' protocols (``stores``), their DynamoDB and S3 implementations,
and the AWS clients they share."""
