"""Fakes of the outside services, speaking their documented wire formats.

Used by the tests and the benchmarks; production code paths stay the ones used
against the real services (only the base URL or the httpx transport differs).
One module per service.
"""
