output "bucket" {
  description = "Name of the state bucket: set it as TF_STATE_BUCKET (a repository variable in GitHub)."
  value       = aws_s3_bucket.state.bucket
}

output "bucket_arn" {
  description = "ARN of the state bucket, for the plan and apply roles' policies."
  value       = aws_s3_bucket.state.arn
}
