output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, in the order of public_subnet_cidrs; known only once their route to the internet gateway exists, so an instance placed in one never boots without a way out."
  value       = aws_subnet.public[*].id

  depends_on = [aws_route.public_internet, aws_route_table_association.public]
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, in the order of private_subnet_cidrs; with enable_nat_gateway, known only once their route to the NAT gateway exists."
  value       = aws_subnet.private[*].id

  depends_on = [aws_route.private_nat, aws_route_table_association.private]
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
