from .cifar import MiniCIFAR10

__all__ = ['MiniCIFAR10']
