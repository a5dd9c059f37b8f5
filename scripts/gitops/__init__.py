"""gitops: the Python that drives the pipeline (local rehearsal, Terraform per environment,
the plan preview and the GitHub side). `gitops --help` lists the commands."""
