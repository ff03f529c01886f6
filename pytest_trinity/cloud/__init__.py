"""The target's AWS side: CloudWatch red flags, Performance Insights, ECS placement, publishing, the stress client."""
