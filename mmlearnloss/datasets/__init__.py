from .cifar import MiniCIFAR10
from .transforms import FastMinIoURandomCrop

__all__ = ['MiniCIFAR10', 'FastMinIoURandomCrop']
