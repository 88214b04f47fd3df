using Sunaiva.Contracts;
using Sunaiva.Media.Extraction;
using Sunaiva.Media.Videos;

// The integration events Media publishes and consumes: the source of docs/events.md (tests/Sunaiva.Api.Tests).
[assembly: PublishesEvent(EventTypes.FileIndexed, typeof(FileIndexed), When = "A file's text was extracted and indexed (or found to have none, or failed): the file is searchable.")]
[assembly: PublishesEvent(EventTypes.VideoReady, typeof(VideoReady), When = "An onboarding video is watchable (local render or HeyGen); again with Replaced = true when HeyGen's video replaces the local one.")]
[assembly: PublishesEvent(EventTypes.VideoFailed, typeof(VideoFailed), When = "An onboarding video could not be made by any renderer after its retries.")]
[assembly: ConsumesEvent(EventTypes.UserSignedUp, typeof(UserSignedUp), Effect = "Keeps the profile for the video scripts and queues the three onboarding videos in the default style.")]
