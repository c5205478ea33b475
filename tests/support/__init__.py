"""What tests share: helpers, fixtures' implementations and captured data.

Test modules and conftests import from here and never from one another
(tests/unit/test_test_layout.py keeps it so).
"""
