output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, in the order of public_subnet_cidrs."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, in the order of private_subnet_cidrs."
  value       = aws_subnet.private[*].id
}

output "public_route_table_id" {
  description = "ID of the route table of the public subnets (default route to the internet gateway)."
  value       = aws_route_table.public.id
}

output "private_route_table_id" {
  description = "ID of the route table of the private subnets (no internet gateway route)."
  value       = aws_route_table.private.id
}

output "internet_gateway_id" {
  description = "ID of the internet gateway."
  value       = aws_internet_gateway.this.id
}
