"""`make bench`: speed figures of the project, each a ratio of two things run side by side in one run
(see README "GPU speed"). `python -m bench [--smoke]`; GPU sections run only where CUDA is present."""
