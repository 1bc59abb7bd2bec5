"""Architecture of the demo Basset model (a stand-in: kipoi would import `basset_net`)."""

basset_net = None
