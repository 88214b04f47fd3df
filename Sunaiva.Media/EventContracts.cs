using Sunaiva.Contracts;
using Sunaiva.Media.Extraction;

// The integration events Media publishes and consumes: the source of docs/events.md (tests/Sunaiva.Api.Tests).
[assembly: PublishesEvent(EventTypes.FileIndexed, typeof(FileIndexed), When = "A file's text was extracted and indexed (or found to have none, or failed): the file is searchable.")]
