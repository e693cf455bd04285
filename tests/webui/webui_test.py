import sys; sys.exit("not written yet")
