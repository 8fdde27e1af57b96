"""Test helpers other packages' tests may use: a local S3 server and its pytest fixture."""
