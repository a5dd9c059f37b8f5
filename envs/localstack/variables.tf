variable "localstack_endpoint" {
  description = "URL of the LocalStack gateway every AWS API call goes to."
  type        = string
  default     = "http://localhost:4566"

  validation {
    condition     = can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]+)?/?$", var.localstack_endpoint))
    error_message = "localstack_endpoint must be an http(s) URL such as http://localhost:4566."
  }
}
