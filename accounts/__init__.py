"""Trainers, coordinators and the organisations they belong to; API tokens and the audit log."""
