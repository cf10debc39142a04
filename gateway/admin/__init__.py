"""The administrators' side: who is one, and the operations the admin console performs.

Framework-free; `gateway.web.admin` is the HTTP edge that renders these.
"""
