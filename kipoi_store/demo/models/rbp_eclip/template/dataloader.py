"""Dataloader shared by the rbp_eclip demo models (a stand-in for kipoi's SeqDistDataset)."""


class SeqDistDataset(object):
    """101 nt sequence plus distances to the nearest genomic landmarks."""

    def __init__(self, intervals_file, fasta_file, gtf_file, filter_protein_coding=True,
                 target_file=None):
        self.intervals_file = intervals_file
