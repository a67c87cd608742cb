"""What people read: the finance report of a night as an HTML page and an XLSX workbook."""
