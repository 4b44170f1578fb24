"""The real UCI sample files (CC BY 4.0, Daqing Chen, UCI ML Repository), for the demo."""
