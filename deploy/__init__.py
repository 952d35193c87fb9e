"""Build and deployment tooling: image requirements, model CronJobs, pipeline path filters."""
