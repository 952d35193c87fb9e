variable "project_id" {
  description = "The Google Cloud project (created beforehand, billing linked)."
  type        = string
}

variable "region" {
  description = "Region of the cluster, the registry, the buckets and Cloud SQL."
  type        = string
  default     = "europe-west1"
}

variable "environment" {
  description = "overlays/<environment> the triggers deploy: staging or prod."
  type        = string
  default     = "prod"
  validation {
    condition     = contains(["staging", "prod"], var.environment)
    error_message = "environment must be staging or prod."
  }
}

variable "github_owner" {
  description = "Owner of the GitHub repository the triggers build."
  type        = string
}

variable "github_repo" {
  description = "Name of the GitHub repository the triggers build."
  type        = string
}

variable "github_connection" {
  description = "Name of an existing Cloud Build 2nd gen GitHub connection in var.region (authorized once in the console or with `gcloud builds connections create github`)."
  type        = string
  default     = "houseprice-github"
}

variable "control_plane_cidrs" {
  description = "Networks allowed to reach the cluster's control plane (your office, a bastion); Google Cloud's own addresses (Cloud Build) are allowed too."
  type        = list(string)
  default     = []
}
