# The Google Cloud side of the platform, mirroring docs/deployment.md steps 2-10 and 12.
# Run on the operator's machine (no Terraform binary ships with the repository):
#   terraform init && terraform validate && terraform plan -var-file=prod.tfvars
terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.10"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
