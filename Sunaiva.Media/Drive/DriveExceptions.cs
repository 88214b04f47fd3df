namespace Sunaiva.Media.Drive;

/// <summary>Drive answered 401: the access token is no longer accepted (one refresh is tried).</summary>
public sealed class DriveUnauthorizedException : Exception
{
    public DriveUnauthorizedException()
        : base("Drive refused the access token")
    {
    }

    public DriveUnauthorizedException(string message)
        : base(message)
    {
    }

    public DriveUnauthorizedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>Drive answered 403 userRateLimitExceeded/rateLimitExceeded or 429 for this user's call.</summary>
public sealed class DriveRateLimitedException : Exception
{
    public DriveRateLimitedException(TimeSpan? retryAfter, string reason)
        : base($"Drive rate limit: {reason}") => (RetryAfter, Reason) = (retryAfter, reason);

    public DriveRateLimitedException()
        : this(null, "rate limited")
    {
    }

    public DriveRateLimitedException(string message)
        : this(null, message)
    {
    }

    public DriveRateLimitedException(string message, Exception inner)
        : base(message, inner) => Reason = message;

    public TimeSpan? RetryAfter { get; }

    public string Reason { get; } = "rate limited";
}

/// <summary>Drive answered 404 (unknown, deleted, or not shared with this app under drive.file).</summary>
public sealed class DriveFileNotFoundException : Exception
{
    public DriveFileNotFoundException()
        : base("Drive file not found or not granted to this app")
    {
    }

    public DriveFileNotFoundException(string message)
        : base(message)
    {
    }

    public DriveFileNotFoundException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>The grant is gone (refresh answered invalid_grant, or 401 after a refresh): the user must consent again.</summary>
public sealed class DriveReconsentRequiredException : Exception
{
    public DriveReconsentRequiredException()
        : base("The Drive grant was revoked or expired; the user must connect again")
    {
    }

    public DriveReconsentRequiredException(string message)
        : base(message)
    {
    }

    public DriveReconsentRequiredException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>The user has no Drive connection.</summary>
public sealed class DriveNotConnectedException : Exception
{
    public DriveNotConnectedException()
        : base("No Drive connection")
    {
    }

    public DriveNotConnectedException(string message)
        : base(message)
    {
    }

    public DriveNotConnectedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
