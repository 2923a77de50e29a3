"""What pipeline-steps says to CI systems: the Jenkins client, GitHub Actions outputs, JUnit reports."""
