namespace Spiffy.Checkpoints;

/// <summary>
/// A checkpoint, safetensors file or Hugging Face config could not be read, or does not fit the
/// model. The message always names the file (and the tensor or field) so a user can act on it.
/// </summary>
public sealed class CheckpointException : Exception
{
    /// <summary>A checkpoint problem; <paramref name="message"/> names the file and tensor.</summary>
    /// <param name="message">One line for the user.</param>
    public CheckpointException(string message) : base(message) { }
    /// <summary>A checkpoint problem caused by <paramref name="inner"/>.</summary>
    /// <param name="message">One line for the user.</param>
    /// <param name="inner">The underlying failure.</param>
    public CheckpointException(string message, Exception inner) : base(message, inner) { }
}
